"""What the profiles service consumes: users registered (a profile each), its own profiles
created (their default avatar), images deleted (an avatar gone)."""

from __future__ import annotations

from chassis.messaging.subscriptions import Subscriptions
from contracts.identity import UserRegistered
from contracts.images import ImageDeleted
from contracts.profiles import ProfileCreated
from profiles.service import ProfileService, ProfilesTransaction


def subscribe(subscriptions: Subscriptions[ProfilesTransaction], profiles: ProfileService) -> None:
    subscriptions.on_event(UserRegistered, profiles.user_registered)
    # Asks Gravatar over HTTP: each on its own, in no transaction (see the use case).
    subscriptions.on_event_alone(ProfileCreated, profiles.profile_created)
    subscriptions.on_event(ImageDeleted, profiles.image_deleted)
