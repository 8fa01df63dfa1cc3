# The MFA audit actions (accounts/mfa). audit/migrations/0008_session_actions.py was generated while they
# were already in AuditAction and lists them too; this migration states them on its own, so that the
# second-factor work does not depend on how 0008 ends up.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0008_session_actions'),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditevent',
            name='action',
            field=models.CharField(choices=[('sign_in', 'Sign-in'), ('sign_in_failed', 'Failed sign-in'), ('sign_out', 'Sign-out'), ('view_study_list', 'Viewed study list'), ('view_study', 'Viewed study'), ('query', 'Queried studies'), ('store', 'Stored an instance'), ('store_rejected', 'Refused an instance'), ('view_ingest_jobs', 'Viewed ingestion jobs'), ('security_alert', 'Security alert'), ('admin_change', 'Administrative change'), ('api_token_issued', 'Issued an API token'), ('stow_request', 'STOW-RS request'), ('retrieve', 'Retrieved instances'), ('access_denied', 'Access refused'), ('dimse_association', 'DICOM association'), ('sign_in_locked_out', 'Sign-in locked after failures'), ('sign_in_unlocked', 'Unlocked sign-in'), ('password_changed', 'Changed a password'), ('password_reset_requested', 'Asked for a password reset'), ('password_reset', 'Set a password by reset e-mail'), ('session_revoked', 'Ended a session'), ('sessions_revoked_all', 'Ended all other sessions'), ('session_expired', 'Session timed out'), ('sessions_ended', "Ended a user's sessions"), ('mfa_enrolled', 'Set up a second factor'), ('mfa_removed', 'Removed a second factor'), ('mfa_reset', "Reset a user's second factors"), ('mfa_verified', 'Passed the second factor'), ('mfa_failed', 'Failed the second factor'), ('mfa_backup_code_used', 'Used a backup code')], max_length=32),
        ),
    ]
