"""The pure core: security logic with no Django, no sockets and no files. Values in, values out."""
