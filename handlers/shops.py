"""Shop codes (经营码): a resident who scans `m_<code>` sees the shop and rates its cleanliness, order
and service 1 to 5 with an optional comment; owners see their shops' ratings with /myshop;
/shopqr sends a shop's code (admins, and the shop's owners). Rules: domain/shops.py."""

from __future__ import annotations

from html import escape

from aiogram import Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n

from bot.catalogs import gettext as _
from bot.codes import shop_specs
from bot.config import Settings
from bot.texts import grid_line
from domain.models import Role, RoleGrant
from domain.shops import (
    ASPECTS,
    OWNER_WINDOW_DAYS,
    RECENT_COMMENTS,
    STARS,
    Shop,
    ShopRating,
    ShopScore,
    granted_shop_codes,
    owns_shop,
    rating_confirmation,
    rating_day,
)
from domain.tickets import has_role
from handlers.codes import answer_with_card
from handlers.common import edit_buttons, take_note
from handlers.filters import Has
from handlers.callbacks import ShopRateCb, ShopRatingsCb, ShopScoreCb
from handlers.keyboards import button, markup
from handlers.resident import skip_comment, stale_form_button, text_expected, use_the_buttons
from handlers.states import ShopRate
from storage.base import Storage

DAY = 24 * 3600


# -- wording ----------------------------------------------------------------------------------------
def aspect_question(step: int, shop: str) -> str:
    return (
        _("1/3 · How clean is {shop}? (1 = very poor, 5 = very good)"),
        _("2/3 · How orderly is {shop}: goods in place, prices shown, no blocked way?"),
        _("3/3 · How good is the service of {shop}?"),
    )[step].format(shop=escape(shop))


def score_line(period: str, score: ShopScore | None) -> str:
    if score is None or not score.ratings:
        return _("{period}: no ratings yet").format(period=period)
    return _(
        "{period}: cleanliness {cleanliness:.1f} · order {order:.1f} · service {service:.1f} · "
        "overall <b>{overall:.1f}</b> of 5 (ratings: {count})"
    ).format(
        period=period, count=score.ratings, cleanliness=score.cleanliness, order=score.order,
        service=score.service, overall=score.overall,
    )


def recent_period() -> str:
    return _("Last {days} days").format(days=OWNER_WINDOW_DAYS)


def comment_line(rating: ShopRating) -> str:
    return _("{day} · cleanliness {cleanliness}, order {order}, service {service}: {comment}").format(
        day=rating.day, cleanliness=rating.cleanliness, order=rating.order, service=rating.service,
        comment=escape(rating.comment or ""),
    )


def not_yours() -> str:
    return _("This button is not valid (any more) or not meant for you.")


# -- scanning a shop's code -------------------------------------------------------------------------
async def open_shop(message: Message, db: Storage, grants: list[RoleGrant], clock, code: str | None) -> None:
    """Where `/start m_<code>` lands (called by handlers.start); `code` is None when malformed."""
    shop = await db.get_shop(code) if code else None
    if shop is None:
        await message.answer(
            _(
                "This shop code is not known; the shop may have been removed. "
                "To report a problem in your grid instead, send /start."
            )
        )
        return
    now = clock()
    grid = await db.get_grid(shop.grid_code)
    score = await db.shop_score(shop.code, now - OWNER_WINDOW_DAYS * DAY, now + 1)
    lines = [
        _("<b>{shop}</b> · shop").format(shop=escape(shop.name)),
        _("Grid: {grid}").format(grid=grid_line(grid, shop.grid_code)),
        score_line(recent_period(), score),
    ]
    if owns_shop(grants, message.from_user.id, shop):
        keyboard = markup([button(_("📊 Ratings of my shop"), ShopRatingsCb(code=shop.code))])
    else:
        lines += ["", _("How was your visit? Rate the shop's cleanliness, order and service.")]
        keyboard = markup([button(_("⭐ Rate this shop"), ShopRateCb(code=shop.code))])
    await message.answer("\n".join(lines), reply_markup=keyboard)


# -- the rating form --------------------------------------------------------------------------------
def stars(step: int):
    return markup([button("⭐" * value, ShopScoreCb(step=step, stars=value)) for value in STARS])


async def start_rating(query: CallbackQuery, callback_data: ShopRateCb, state: FSMContext, db: Storage,
                       grants: list[RoleGrant]) -> None:
    shop = await db.get_shop(callback_data.code)
    if shop is None:
        await query.answer(_("This shop no longer exists."), show_alert=True)
        return
    if owns_shop(grants, query.from_user.id, shop):
        await query.answer(_("You cannot rate your own shop."), show_alert=True)
        return
    await query.answer()
    await state.set_state(ShopRate.scores)
    await state.set_data({"shop": shop.code, "name": shop.name, "scores": []})
    await query.message.answer(aspect_question(0, shop.name), reply_markup=stars(0))


async def pick_score(query: CallbackQuery, callback_data: ShopScoreCb, state: FSMContext, db: Storage,
                     settings: Settings, clock) -> None:
    data = await state.get_data()
    scores: list[int] = data["scores"]
    # Only the question asked now: an older question's buttons or forged data are refused.
    if callback_data.step != len(scores) or callback_data.stars not in STARS:
        await query.answer(not_yours(), show_alert=True)
        return
    scores.append(callback_data.stars)
    await query.answer()
    await edit_buttons(query, None)
    if len(scores) < len(ASPECTS):
        await state.update_data(scores=scores)
        await query.message.answer(aspect_question(len(scores), data["name"]), reply_markup=stars(len(scores)))
        return
    now = clock()
    rating = ShopRating(data["shop"], query.from_user.id, rating_day(now, settings.timezone), *scores, now)
    await db.save_shop_rating(rating, [rating_confirmation(rating)])  # the thanks ask for the comment
    await state.set_state(ShopRate.comment)
    await state.update_data(scores=scores, day=rating.day, at=now)


async def add_comment(message: Message, state: FSMContext, db: Storage) -> None:
    text = await take_note(message)
    if text is None:
        return
    data = await state.get_data()
    await state.clear()
    # The same day's row again, now with the comment.
    rating = ShopRating(data["shop"], message.from_user.id, data["day"], *data["scores"], data["at"], text)
    await db.save_shop_rating(rating, [rating_confirmation(rating)])


# -- owners -----------------------------------------------------------------------------------------
async def owner_view(shop: Shop, db: Storage, clock) -> str:
    now = clock()
    grid = await db.get_grid(shop.grid_code)
    recent = await db.shop_score(shop.code, now - OWNER_WINDOW_DAYS * DAY, now + 1)
    ever = await db.shop_score(shop.code, 0, now + 1)
    lines = [
        _("<b>{shop}</b> · ratings").format(shop=escape(shop.name)),
        _("Grid: {grid}").format(grid=grid_line(grid, shop.grid_code)),
        "",
        score_line(recent_period(), recent),
        score_line(_("All time"), ever),
        "",
    ]
    comments = await db.shop_comments(shop.code, RECENT_COMMENTS)
    if comments:
        lines.append(_("Latest comments:"))
        lines += [comment_line(c) for c in comments]
    else:
        lines.append(_("No comments yet."))
    return "\n".join(lines)


async def my_shop(message: Message, db: Storage, grants: list[RoleGrant], clock) -> None:
    shops = await db.owned_shops(message.from_user.id, granted_shop_codes(grants))
    if not shops:
        await message.answer(_("You are not registered as the owner of a shop."))
        return
    if len(shops) == 1:
        await message.answer(await owner_view(shops[0], db, clock))
        return
    await message.answer(
        _("Which shop?"), reply_markup=markup([button(s.name, ShopRatingsCb(code=s.code)) for s in shops])
    )


async def show_ratings(query: CallbackQuery, callback_data: ShopRatingsCb, db: Storage,
                       grants: list[RoleGrant], clock) -> None:
    shop = await db.get_shop(callback_data.code)
    # Checked again on every tap: ownership may have changed, and button data can be forged.
    if shop is None or not owns_shop(grants, query.from_user.id, shop):
        await query.answer(not_yours(), show_alert=True)
        return
    await query.answer()
    await query.message.answer(await owner_view(shop, db, clock))


# -- printing the code --------------------------------------------------------------------------------
async def shop_qr(message: Message, command: CommandObject, db: Storage, grants: list[RoleGrant],
                  settings: Settings, i18n: I18n) -> None:
    """/shopqr <code>: admins for every shop, owners for their own."""
    code = (command.args or "").strip()
    if not code:
        await message.answer(_("Send /shopqr followed by the shop's code, e.g. /shopqr M001."))
        return
    shop = await db.get_shop(code)
    if shop is None or not (has_role(grants, Role.ADMIN) or owns_shop(grants, message.from_user.id, shop)):
        await message.answer(_("No shop with the code {code} is yours to print.").format(code=escape(code)))
        return
    await answer_with_card(message, shop_specs([shop], settings, db, i18n), settings, shop.code, shop.name)


def build_router() -> Router:
    router = Router(name="shops")
    router.message.register(my_shop, Command("myshop"))
    router.message.register(shop_qr, Command("shopqr"))
    router.callback_query.register(start_rating, ShopRateCb.filter())
    router.callback_query.register(pick_score, StateFilter(ShopRate.scores), ShopScoreCb.filter())
    router.callback_query.register(stale_form_button, ShopScoreCb.filter())
    router.callback_query.register(show_ratings, ShopRatingsCb.filter())
    router.message.register(skip_comment, StateFilter(ShopRate.comment), Command("skip"))
    router.message.register(add_comment, StateFilter(ShopRate.comment), Has("text"))
    router.message.register(text_expected, StateFilter(ShopRate.comment))
    router.message.register(use_the_buttons, StateFilter(ShopRate.scores))
    return router
