"""Property-based fuzzing of every input surface: chat channels, web chat and definition files."""
