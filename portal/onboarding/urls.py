from django.urls import path

from portal.onboarding import member_views, peer_views, views

_CLINIC = "t/<slug:tenant_slug>/"

urlpatterns = [
    path("onboarding/", views.clinic_request, name="clinic-request"),
    path("onboarding/thanks/", views.clinic_request_thanks, name="clinic-request-thanks"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation-accept"),
    path(_CLINIC + "onboarding/", views.onboarding_checklist, name="onboarding-checklist"),
    path(_CLINIC + "onboarding/skip/", views.onboarding_skip, name="onboarding-skip"),
    path(_CLINIC + "onboarding/go-live/", views.onboarding_go_live, name="onboarding-go-live"),
    path(_CLINIC + "onboarding/region/", views.onboarding_region, name="onboarding-region"),
    path(_CLINIC + "members/", member_views.clinic_members, name="clinic-members"),
    path(_CLINIC + "members/<int:membership_id>/role/", member_views.member_role, name="member-role"),
    path(_CLINIC + "members/<int:membership_id>/remove/", member_views.member_remove, name="member-remove"),
    path(
        _CLINIC + "invitations/<int:invitation_id>/resend/",
        member_views.invitation_resend,
        name="invitation-resend",
    ),
    path(
        _CLINIC + "invitations/<int:invitation_id>/revoke/",
        member_views.invitation_revoke,
        name="invitation-revoke",
    ),
    path(_CLINIC + "dicom-peers/", peer_views.dicom_peers, name="dicom-peers"),
    path(
        _CLINIC + "dicom-peers/<int:peer_id>/remove/", peer_views.dicom_peer_remove, name="dicom-peer-remove"
    ),
]
