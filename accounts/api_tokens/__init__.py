"""The API tokens pages: a user's own tokens (/accounts/tokens/) and a clinic admin's view of the
clinic's tokens (/t/<clinic>/api-tokens/). Issuing, checking and revoking live in accounts.tokens."""
