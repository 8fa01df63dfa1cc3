"""Sharing with doctors (included at the root by portal.urls): clinic routes spell out t/<tenant_slug>/."""

from django.urls import path

from portal.sharing import views

urlpatterns = [
    path("shared/", views.shared_worklist, name="shared-worklist"),
    path("t/<slug:tenant_slug>/studies/<str:study_uid>/share/", views.share_study, name="study-share"),
    path("t/<slug:tenant_slug>/shares/", views.clinic_shares, name="clinic-shares"),
    path("t/<slug:tenant_slug>/shares/<int:share_id>/revoke/", views.revoke_share, name="share-revoke"),
    path("t/<slug:tenant_slug>/shares/rights/", views.change_study_right, name="study-right-change"),
]
