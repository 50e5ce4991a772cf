"""Channel shells: translate inbound input to events and render messages per channel."""
