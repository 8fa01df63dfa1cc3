from django.core.management.base import BaseCommand, CommandError

from audit.alerts.services import report_chain_break
from audit.chain import Break, chain_of, chains, verify_chain
from audit.checkpoints import checkpoint_break
from audit.models import AuditChainHead, AuditCheckpoint
from portal.models import Tenant


class Command(BaseCommand):
    help = (
        "Verify the audit trail's hash chains (every tenant's, and the platform's) from their first "
        "event, against their heads and their signed checkpoints; report the first broken link."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", help="Verify only this tenant's chain (its slug).")

    def handle(self, *args, tenant: str | None = None, **options) -> None:
        if tenant is not None:
            found = Tenant.objects.filter(slug=tenant).first()
            if found is None:
                raise CommandError(f"No tenant {tenant!r}.")
            selected = [chain_of(found.pk)]
        else:
            selected = chains()
        for chain in selected:
            state = verify_chain(chain)
            broken = state.first_break or checkpoint_break(
                state, list(AuditCheckpoint.objects.filter(chain=chain))
            )
            head = AuditChainHead.objects.filter(chain=chain).first()
            if broken is None and head is not None and head.sequence > state.events:
                broken = Break(
                    chain,
                    state.events + 1,
                    f"the chain ends at event {state.events} but its head is at {head.sequence}",
                )
            if broken is not None:
                # Recorded in the broken chain and alerted at once, as the daily checkpoint does.
                report_chain_break(broken)
                raise CommandError(str(broken))
            self.stdout.write(f"chain {chain}: {state.events} events, intact")
