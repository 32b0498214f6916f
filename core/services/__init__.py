"""Business logic: one module per area, called by the API views and jobs."""
