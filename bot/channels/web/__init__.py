"""The local web chat: page, JSON endpoints and its sender."""
