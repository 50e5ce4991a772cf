"""The pure core: questionnaire model, loader, engine, privacy and policy rules."""
