"""The web shell: base templates, middleware, error pages, the dashboard and the API root."""
