"""The product catalogue: products, versions and their support, components, aliases, teams."""
