"""/api/v1/auth/session: browser sign-in with an HttpOnly session cookie."""
