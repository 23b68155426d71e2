"""torchon's built-in behaviour, registered through the same hooks as any plugin (datasette's pattern)."""
