"""Routes of the user service: thin wrappers that parse, call the service and wrap."""

from typing import Annotated

from fastapi import Depends, Query

from shop_common.db import SessionDep
from shop_common.errors import (
    DatabaseUnavailable,
    InvalidInternalSecret,
    InvalidToken,
    NotAuthenticated,
    ServiceUnavailable,
    TooManyRequests,
)
from shop_common.rate_limit import ClientNetworkDep, rate_limit
from shop_common.routing import ShopRouter, error_responses
from shop_common.schemas import DataResponse, MessageDataResponse, MessageResponse
from shop_common.security import InternalSecretDep
from shop_contracts.user import AccountEvent, TokenResolveRequest, TokenUser
from user_service import service
from user_service.deps import (
    CurrentAuthDep,
    CurrentProfileDep,
    DenylistDep,
    HashingSlotsDep,
    LimiterDep,
    TokenIssuerDep,
)
from user_service.errors import EmailTaken, InvalidCredentials, InvalidOldPassword
from user_service.schemas import (
    ChangePasswordRequest,
    LoginRequest,
    LogoutRequest,
    ProfileUpdate,
    RefreshRequest,
    RegisterRequest,
    TokenPair,
    UserRead,
)

__all__ = ["internal_router", "public_router", "routers"]

public_router = ShopRouter(
    prefix="/api/v1",
    tags=["users"],
    dependencies=[Depends(rate_limit("default"))],
    errors=(DatabaseUnavailable, TooManyRequests),
)
auth_limited = [Depends(rate_limit("auth"))]
internal_router = ShopRouter(
    prefix="/internal/v1",
    tags=["internal"],
    dependencies=[InternalSecretDep],
    errors=(DatabaseUnavailable, InvalidInternalSecret),
)
AUTHENTICATED = (NotAuthenticated, InvalidToken)
MAX_SEQ = 2**63 - 1  # the feed's sequence is a bigint
MAX_EVENTS = 1000


@public_router.post(
    "/register/",
    status_code=201,
    dependencies=auth_limited,
    responses=error_responses(EmailTaken),
)
async def register(
    body: RegisterRequest, session: SessionDep, tokens: TokenIssuerDep, hashing: HashingSlotsDep
) -> MessageDataResponse[TokenPair]:
    pair = await service.register(session, tokens, hashing, data=body)
    return MessageDataResponse(message="User registered successfully", data=pair)


@public_router.post(
    "/login/", dependencies=auth_limited, responses=error_responses(InvalidCredentials)
)
async def login(
    body: LoginRequest,
    session: SessionDep,
    tokens: TokenIssuerDep,
    limiter: LimiterDep,
    hashing: HashingSlotsDep,
    network: ClientNetworkDep,
) -> MessageDataResponse[TokenPair]:
    pair = await service.login(session, tokens, limiter, hashing, data=body, network=network)
    return MessageDataResponse(message="Login successful", data=pair)


@public_router.post(
    "/refresh-token/", dependencies=auth_limited, responses=error_responses(InvalidToken)
)
async def refresh_token(
    body: RefreshRequest, session: SessionDep, tokens: TokenIssuerDep
) -> MessageDataResponse[TokenPair]:
    pair = await service.refresh(session, tokens, refresh_token=body.refresh_token)
    return MessageDataResponse(message="Token refreshed successfully", data=pair)


# 503: the revoked token could not be recorded (Redis is down).
@public_router.post("/logout/", responses=error_responses(*AUTHENTICATED, ServiceUnavailable))
async def logout(
    body: LogoutRequest,
    auth: CurrentAuthDep,
    session: SessionDep,
    tokens: TokenIssuerDep,
    denylist: DenylistDep,
) -> MessageResponse:
    await service.logout(session, tokens, denylist, auth=auth, refresh_token=body.refresh_token)
    return MessageResponse(message="Logged out successfully")


@public_router.get("/profile/", responses=error_responses(*AUTHENTICATED))
async def get_profile(user: CurrentProfileDep) -> DataResponse[UserRead]:
    return DataResponse(data=UserRead.model_validate(user, from_attributes=True))


@public_router.patch("/profile/", responses=error_responses(*AUTHENTICATED, EmailTaken))
async def update_profile(
    body: ProfileUpdate, auth: CurrentAuthDep, session: SessionDep
) -> MessageDataResponse[UserRead]:
    user = await service.update_profile(session, user=auth.user, data=body)
    return MessageDataResponse(
        message="Profile updated successfully",
        data=UserRead.model_validate(user, from_attributes=True),
    )


@public_router.delete("/profile/", responses=error_responses(*AUTHENTICATED))
async def delete_profile(auth: CurrentAuthDep, session: SessionDep) -> MessageResponse:
    await service.delete_account(session, user=auth.user)
    return MessageResponse(message="Profile deleted successfully")


@public_router.put(
    "/change-password/", responses=error_responses(*AUTHENTICATED, InvalidOldPassword)
)
async def change_password(
    body: ChangePasswordRequest,
    auth: CurrentAuthDep,
    session: SessionDep,
    limiter: LimiterDep,
    hashing: HashingSlotsDep,
) -> MessageResponse:
    await service.change_password(session, limiter, hashing, user=auth.user, data=body)
    return MessageResponse(message="Password changed successfully")


@internal_router.post("/token/", responses=error_responses(InvalidToken))
async def resolve_token(
    body: TokenResolveRequest, session: SessionDep, tokens: TokenIssuerDep, denylist: DenylistDep
) -> DataResponse[TokenUser]:
    auth = await service.authenticate(session, tokens, denylist, access_token=body.token)
    return DataResponse(data=TokenUser.model_validate(auth.user, from_attributes=True))


@internal_router.get("/account-events/")
async def account_events(
    session: SessionDep,
    after: Annotated[int, Query(ge=0, le=MAX_SEQ, description="Events after this seq")] = 0,
    limit: Annotated[
        int, Query(ge=1, le=MAX_EVENTS, description="Events per page (1..1000)")
    ] = 500,
) -> DataResponse[list[AccountEvent]]:
    """The account-event feed, in `seq` order: logouts, password changes and deletions."""
    events = await service.account_events(session, after=after, limit=limit)
    return DataResponse(data=[AccountEvent.model_validate(e, from_attributes=True) for e in events])


routers = [public_router, internal_router]
