"""A clinic's administration pages: the settings hub and the clinic's own policies (issue 11)."""
