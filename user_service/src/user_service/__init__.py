"""The user service: accounts, JWT sessions, and token resolution for the other services."""
