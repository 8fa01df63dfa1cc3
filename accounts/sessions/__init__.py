"""Session control (THREATS.md, Access: "Sessions"; OWASP ASVS V7): idle and absolute timeouts from the
clinics' security policies, the "Your sessions" page, and ending sessions when a password or the user's
rights change. docs/authentication.md, "Sessions", describes the behaviour."""
