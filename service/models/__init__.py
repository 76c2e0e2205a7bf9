"""Typed declarative models; importing this package registers every table on Base.metadata."""

from service.models.article import SLUG_MAX, Article, ArticleTag, Comment, Tag
from service.models.base import MAX_ID, Base
from service.models.jobs import OutboxJob
from service.models.mail import SentEmail
from service.models.social import Counter, Favorite, Follow
from service.models.user import Role, User
from service.models.views import ArticleView, CommentView, ProfileView
from service.models.webhook import Webhook, WebhookDelivery, WebhookMessage

__all__ = [
    "MAX_ID",
    "SLUG_MAX",
    "Article",
    "ArticleTag",
    "ArticleView",
    "Base",
    "Comment",
    "CommentView",
    "Counter",
    "Favorite",
    "Follow",
    "OutboxJob",
    "ProfileView",
    "Role",
    "SentEmail",
    "Tag",
    "User",
    "Webhook",
    "WebhookDelivery",
    "WebhookMessage",
]
