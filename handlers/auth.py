"""Accounts: register, login, Google, verification, password reset, tokens."""
from __future__ import annotations

from pydantic import Field

from handlers.core.base import USER, BaseHandler
from handlers.core.fields import Email, In, OptionalText, Out, Password
from handlers.core.openapi import api
from handlers.core.routing import Route
from models.accounts import actions, passwords, sessions, tables, tokens
from models.checkout import guests


class RegisterIn(In):
    email: Email
    password: Password
    location: OptionalText = Field(default="", max_length=100)
    full_name: OptionalText = Field(default="", max_length=255)


class LoginIn(In):
    email: Email
    password: str = Field(max_length=128)


class GoogleIn(In):
    token: str = Field(min_length=1, max_length=8192)
    email: OptionalText = ""
    location: OptionalText = Field(default="", max_length=100)


class EmailIn(In):
    email: Email


class PasswordIn(In):
    password: Password


class RefreshIn(In):
    refresh_token: str = Field(min_length=1, max_length=4096)


class UserOut(Out):
    id: int
    uuid: str
    email: str
    full_name: str
    location: str
    is_verified: bool
    is_staff: bool


class RegisterOut(Out):
    user: UserOut
    token: str


class SessionOut(Out):
    access_token: str
    refresh_token: str
    user: UserOut


class MessageOut(Out):
    success: bool = True
    message: str


class VerifiedOut(MessageOut):
    token: str


class ValidOut(Out):
    valid: bool


class RegisterHandler(BaseHandler):
    rate_scope = "register"

    @api(body=RegisterIn, response=RegisterOut, status=201, rejects={400: "an email address already registered"})
    async def post(self):
        """Register a new account; a verification email is sent."""
        data = self.parse(RegisterIn)
        user, token = await actions.register(data.email, data.password, data.location, data.full_name)
        await guests.sign_in(user.id, self.cart_token())
        self.reply({"user": sessions.user_payload(user), "token": token}, 201)


class LoginHandler(BaseHandler):
    rate_scope = "login"

    @api(body=LoginIn, response=SessionOut, errors={403: "The account is blocked"})
    async def post(self):
        """Log in with email and password."""
        data = self.parse(LoginIn)
        await self.limit("login_email", tables.normalize_email(data.email))  # guesses spread over many IPs
        session = await actions.login(data.email, data.password)
        await guests.sign_in(session["user"]["id"], self.cart_token())
        self.reply(session)


class GoogleLoginHandler(BaseHandler):
    rate_scope = "google"

    @api(body=GoogleIn, response=SessionOut, errors={403: "The account is blocked"},
         rejects={400: "a token Google does not accept, or Google sign-in not configured"})
    async def post(self):
        """Log in (or sign up) with a Google ID token."""
        data = self.parse(GoogleIn)
        session = await actions.google_login(data.token, data.location)
        await guests.sign_in(session["user"]["id"], self.cart_token())
        self.reply(session)


class VerifyEmailHandler(BaseHandler):
    """The verification email links to the storefront's page
    (``FRONTEND_URL/verify-email/<token>/<uidb64>/``), which POSTs here: a mail
    scanner following the link verifies nothing. GET stays as the spec shows it."""

    @api(response=VerifiedOut, rejects={400: "a link that is not valid, already used or expired"})
    async def get(self, token: str, uidb64: str):
        """Verify an email address (the spec's GET; the storefront's page POSTs instead)."""
        await self.post(token, uidb64)

    @api(response=VerifiedOut, rejects={400: "a link that is not valid, already used or expired"})
    async def post(self, token: str, uidb64: str):
        """Verify an email address: what the storefront's verify-email page calls."""
        user = await actions.verify_email(token, uidb64)
        await guests.sign_in(user.id, self.cart_token())
        self.reply({"success": True, "message": "Email verified successfully", "token": tokens.access_token(user)})


class ResendVerificationHandler(BaseHandler):
    rate_scope = "resend_verification"

    @api(body=EmailIn, response=MessageOut, errors={404: "No unverified user has this email address"})
    async def post(self):
        """Send a new verification email (the old link stops working)."""
        data = self.parse(EmailIn)
        await actions.resend_verification(data.email)
        self.reply({"success": True, "message": "Verification email resent successfully"})


class ForgotPasswordHandler(BaseHandler):
    rate_scope = "forgot_password"

    @api(body=EmailIn, response=MessageOut, errors={404: "No user has this email address"})
    async def post(self):
        """Email a password reset link."""
        data = self.parse(EmailIn)
        await passwords.forgot_password(data.email)
        self.reply({"success": True, "message": "Password reset link sent to your email"})


class ResetPasswordHandler(BaseHandler):
    rate_scope = "reset_password"

    @api(body=PasswordIn, response=MessageOut, rejects={400: "a link that is not valid, already used or expired"})
    async def post(self, uidb64: str, token: str):
        """Set a new password with the link from the reset email."""
        data = self.parse(PasswordIn)
        await passwords.reset_password(uidb64, token, data.password)
        self.reply({"success": True, "message": "Password reset successful"})


class ValidateTokenHandler(BaseHandler):
    role = USER
    error_extra = {"valid": False}

    @api(response=ValidOut)
    async def post(self):
        """Tell whether the bearer token is still valid."""
        self.reply({"valid": True})

    get = post


class TokenRefreshHandler(BaseHandler):
    @api(body=RefreshIn, response=SessionOut)
    async def post(self):
        """Exchange a refresh token for a new pair; the old one is revoked."""
        data = self.parse(RefreshIn)
        self.reply(await sessions.refresh(data.refresh_token))


class LogoutHandler(BaseHandler):
    @api(body=RefreshIn, response=MessageOut)
    async def post(self):
        """End the session of a refresh token: its refresh and access tokens stop working."""
        data = self.parse(RefreshIn)
        await sessions.logout(data.refresh_token)
        self.reply({"success": True, "message": "Successfully logged out"})


routes = [
    Route("/api/register/", RegisterHandler),
    Route("/api/auth/register/", RegisterHandler),
    Route("/api/auth/login/", LoginHandler),
    Route("/api/auth/google/", GoogleLoginHandler),
    Route("/api/verify-email/{token}/{uidb64}/", VerifyEmailHandler),
    Route("/api/resend-verification/", ResendVerificationHandler),
    Route("/api/forgot-password/", ForgotPasswordHandler),
    Route("/api/reset-password/{uidb64}/{token}/", ResetPasswordHandler),
    Route("/api/auth/validate-token/", ValidateTokenHandler),
    Route("/api/auth/token/refresh/", TokenRefreshHandler),
    Route("/api/auth/logout/", LogoutHandler),
]
