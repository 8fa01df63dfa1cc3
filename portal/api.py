from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

import audit
from accounts import policy
from audit.models import AuditAction
from imaging.models import Study


class MembershipSerializer(serializers.Serializer):
    tenant = serializers.CharField(source="tenant.slug")
    tenant_name = serializers.CharField(source="tenant.name")
    role = serializers.CharField()


class MeSerializer(serializers.Serializer):
    email = serializers.EmailField()
    is_platform_operator = serializers.BooleanField(source="is_superuser")
    memberships = MembershipSerializer(many=True)


class StudySerializer(serializers.ModelSerializer):
    class Meta:
        model = Study
        fields = [
            "study_instance_uid",
            "study_date",
            "study_time",
            "accession_number",
            "description",
            "modalities_in_study",
            "number_of_series",
            "number_of_instances",
        ]


class MeView(APIView):
    """The signed-in user and the clinics they belong to."""

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        user = request.user
        data = {
            "email": user.email,
            "is_superuser": user.is_superuser,
            "memberships": user.memberships.select_related("tenant").filter(tenant__is_active=True),
        }
        return Response(MeSerializer(data).data)


class StudyListView(generics.ListAPIView):
    """Studies of the clinic that the caller may see, newest first."""

    serializer_class = StudySerializer

    def get_queryset(self):
        tenant = self.request.tenant
        if tenant is None or not policy.can(self.request.user, policy.Action.ENTER_TENANT, tenant):
            raise Http404
        return policy.visible_studies(self.request.user, tenant)

    def list(self, request: Request, *args, **kwargs) -> Response:
        response = super().list(request, *args, **kwargs)
        audit.record(
            AuditAction.QUERY,
            request=request,
            actor_role=policy.membership(request.user, request.tenant).role,
            object_type="study",
            object_ids=[row["study_instance_uid"] for row in response.data["results"]],
            # Which interface and which API token (as QIDO-RS names them), if the caller used one.
            details={"service": "rest", "token": getattr(request.auth, "prefix", None)},
        )
        return response
