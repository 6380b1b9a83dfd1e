from django.urls import path

from public import feeds, views

urlpatterns = [
    path("", views.how_to_subscribe, name="public-home"),
    path("regolamento/", views.regulation, name="public-regulation"),
    path("archivio/", views.archive, name="public-archive"),
    path("archivio/<int:pk>/", views.archive_detail, name="public-archive-detail"),
    path("archivio/rss/", feeds.ArchiveRssFeed(), name="public-feed-rss"),
    path("archivio/atom/", feeds.ArchiveAtomFeed(), name="public-feed-atom"),
]
