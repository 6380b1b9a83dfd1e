"""The archive as RSS and Atom, for those who follow the notices without WhatsApp.

Links are built from SITE_URL, never from the request's Host header (which a client chooses),
and an item's text is its WhatsApp markup rendered with everything else escaped: feed readers
show descriptions as HTML, and staff-typed text must not become markup there."""

from datetime import datetime

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed, Rss201rev2Feed, SyndicationFeed
from django.utils.translation import gettext

from broadcasts.models import Broadcast
from broadcasts.selectors import broadcast_public_archive
from gateway.formatting import whatsapp_to_html
from public.selectors import broadcast_public_text

FEED_SIZE = 30


class ArchiveRssFeed(Feed):
    feed_type: type[SyndicationFeed] = Rss201rev2Feed
    url_name = "public-feed-rss"

    def title(self) -> str:
        return gettext("%(comune)s: WhatsApp notices") % {"comune": settings.COMUNE_NAME}

    def link(self) -> str:
        return settings.SITE_URL + reverse("public-archive")

    def feed_url(self) -> str:
        return settings.SITE_URL + reverse(self.url_name)

    def description(self) -> str:
        return gettext("The notices %(comune)s sent to its WhatsApp subscribers.") % {
            "comune": settings.COMUNE_NAME
        }

    def items(self) -> QuerySet[Broadcast]:
        return broadcast_public_archive()[:FEED_SIZE]

    def item_title(self, item: Broadcast) -> str:
        return item.title

    def item_description(self, item: Broadcast) -> str:
        return whatsapp_to_html(broadcast_public_text(broadcast=item))

    def item_link(self, item: Broadcast) -> str:
        return settings.SITE_URL + reverse("public-archive-detail", args=[item.pk])

    def item_pubdate(self, item: Broadcast) -> datetime:
        return item.finished_at or item.started_at or item.created_at

    def item_updateddate(self, item: Broadcast) -> datetime:
        # Atom requires it on every entry; a sent broadcast never changes.
        return self.item_pubdate(item)

    def item_categories(self, item: Broadcast) -> list[str]:
        return [str(item.get_category_display())]


class ArchiveAtomFeed(ArchiveRssFeed):
    feed_type = Atom1Feed
    url_name = "public-feed-atom"

    def subtitle(self) -> str:
        return self.description()
