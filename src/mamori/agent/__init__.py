"""The endpoint agent (DESIGN.md §8). Runs on managed machines and never imports Django."""
