"""The events of other services the images service acts on."""

from __future__ import annotations

from chassis.messaging.subscriptions import Subscriptions
from contracts.profiles import AvatarChanged, AvatarRemoved
from images.service import ImageService, ImagesTransaction


def subscribe(subscriptions: Subscriptions[ImagesTransaction], images: ImageService) -> None:
    subscriptions.on_event(AvatarChanged, images.avatar_changed)
    subscriptions.on_event(AvatarRemoved, images.avatar_removed)
