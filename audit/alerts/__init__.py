"""Alerts over the audit trail: rules watching the stream of audit events, delivery by e-mail and
signed webhook, and the alerts page of the privacy officers (docs/audit.md, "Alerts")."""
