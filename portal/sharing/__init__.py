"""Who else may see a clinic's studies: shares with referring doctors, share links, per-study object
permissions (django-guardian) and break-the-glass grants. The decisions themselves are made in
accounts.policy; this app keeps the grants they rest on."""
