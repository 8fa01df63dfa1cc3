"""Audit trail. Every read, write, share and sign-in is recorded through `audit.record(...)`."""


def record(*args, **kwargs):
    # Imported lazily so that `import audit` works before the app registry is ready.
    from audit.services import record as _record

    return _record(*args, **kwargs)


def event(*args, **kwargs):
    from audit.services import event as _event

    return _event(*args, **kwargs)


def record_access(*args, **kwargs):
    from audit.services import record_access as _record_access

    return _record_access(*args, **kwargs)


def record_all(*args, **kwargs):
    from audit.services import record_all as _record_all

    return _record_all(*args, **kwargs)
