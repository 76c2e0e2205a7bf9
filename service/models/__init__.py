"""Typed declarative models; importing this package registers every table on Base.metadata."""

from service.models.article import SLUG_MAX, TAG_KEY_MAX, Article, ArticleTag, Comment, Tag
from service.models.audit import AuditEvent
from service.models.base import MAX_ID, Base
from service.models.idempotency import IdempotencyKey
from service.models.jobs import OutboxJob
from service.models.mail import SentEmail
from service.models.password_reset import PasswordReset
from service.models.refresh_token import RefreshFamily, RefreshToken
from service.models.slug_history import ArticleSlug
from service.models.social import Counter, Favorite, Follow
from service.models.user import USERNAME_KEY_MAX, BrowserSession, Role, User
from service.models.views import ArticleView, CommentView, ProfileView
from service.models.webhook import Webhook, WebhookDelivery, WebhookMessage

__all__ = [
    "MAX_ID",
    "SLUG_MAX",
    "TAG_KEY_MAX",
    "USERNAME_KEY_MAX",
    "Article",
    "ArticleSlug",
    "ArticleTag",
    "ArticleView",
    "AuditEvent",
    "Base",
    "BrowserSession",
    "Comment",
    "CommentView",
    "Counter",
    "Favorite",
    "Follow",
    "IdempotencyKey",
    "OutboxJob",
    "PasswordReset",
    "ProfileView",
    "RefreshFamily",
    "RefreshToken",
    "Role",
    "SentEmail",
    "Tag",
    "User",
    "Webhook",
    "WebhookDelivery",
    "WebhookMessage",
]
