"""When things run: scheduled jobs as thin calls into services."""
