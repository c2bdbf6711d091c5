"""The signed-in user's profile (also at /api/profiles/)."""
from __future__ import annotations

from pydantic import Field

from handlers.core.base import USER, BaseHandler
from handlers.core.fields import CountryCode, Email, In, OptionalText, Out
from handlers.core.openapi import api
from handlers.core.routing import Route
from models.accounts import profiles
from models.core.errors import ValidationFailed


class ProfileIn(In):
    full_name: OptionalText | None = Field(default=None, max_length=255)
    phone_number: OptionalText | None = Field(default=None, max_length=20)
    country_code: CountryCode = None


class DetailsIn(ProfileIn):
    email: Email | None = None
    current_password: str | None = Field(default=None, max_length=128,
                                         description="Required to change the email address.")


class ProfileOut(Out):
    id: int
    email: str
    full_name: str
    phone_number: str | None
    country_code: str | None
    formatted_phone_number: str | None
    photo: str | None
    photo_url: str | None
    updated_at: str
    available_country_codes: dict[str, str] | None = None


class ProfileHandler(BaseHandler):
    role = USER

    @api(response=ProfileOut)
    async def get(self):
        """The current user's profile, with the phone country codes on offer."""
        profile = await profiles.load_profile_for(self.current_user)
        self.reply(profiles.profile_payload(self.current_user, profile, with_codes=True))


class ProfileDetailHandler(BaseHandler):
    role = USER

    @api(body=ProfileIn, response=ProfileOut,
         rejects={400: "a phone number that is not valid for its country, or a calling code no country uses"})
    async def put(self, id: str):
        """Update name and phone of the profile ``id`` (must be one's own)."""
        profile = await profiles.load_profile_for(self.current_user, int(id))
        data = self.parse(ProfileIn)
        profile = await profiles.update_profile(self.current_user, profile, data.model_dump(exclude_unset=True))
        self.reply(profiles.profile_payload(self.current_user, profile))

    patch = put

    @api(response=ProfileOut)
    async def get(self, id: str):
        """One's own profile by id."""
        profile = await profiles.load_profile_for(self.current_user, int(id))
        self.reply(profiles.profile_payload(self.current_user, profile, with_codes=True))


class UpdateDetailsHandler(BaseHandler):
    role = USER

    @api(body=DetailsIn, response=ProfileOut,
         rejects={400: "a phone number that is not valid for its country, a calling code no country uses, "
                       "or an email address another account uses"})
    async def patch(self):
        """Update name, email and phone in one call (a new email needs ``current_password``)."""
        data = self.parse(DetailsIn)
        profile = await profiles.load_profile_for(self.current_user)
        profile = await profiles.update_profile(self.current_user, profile, data.model_dump(exclude_unset=True))
        self.reply(profiles.profile_payload(self.current_user, profile))

    put = patch


class UploadPhotoHandler(BaseHandler):
    role = USER

    @api(response=ProfileOut, files={"photo": "JPG or PNG, 2 MB at most (``image`` is accepted too)"},
         rejects={400: "a file that is not a JPG or PNG image, or larger than 2 MB"})
    async def post(self):
        """Upload a profile photo (form field ``photo``; JPG/PNG, 2 MB at most)."""
        files = self.request.files.get("photo") or self.request.files.get("image")
        if not files:
            raise ValidationFailed.field("photo", "No file was submitted.")
        profile = await profiles.upload_photo(self.current_user, files[0].body)
        self.reply(profiles.profile_payload(self.current_user, profile))


class RemovePhotoHandler(BaseHandler):
    role = USER

    @api(status=204)
    async def delete(self):
        """Remove the profile photo."""
        await profiles.remove_photo(self.current_user)
        self.reply(status=204)


routes = []
for base in ("/api/profile", "/api/profiles"):
    routes += [
        Route(f"{base}/", ProfileHandler),
        Route(f"{base}/update-details/", UpdateDetailsHandler),
        Route(f"{base}/upload_photo/", UploadPhotoHandler),
        Route(f"{base}/remove_photo/", RemovePhotoHandler),
        Route(base + "/{id:int}/", ProfileDetailHandler),
    ]
