"""A /command is never a step's text: one rule for every form step, present and future.

A message that is a command, sent while a form waits for text (a grid name, a reply, a reason, a
comment, …), is looked up among the commands the routers register:
- the step's own commands (registered for that state, such as /skip) and commands marked
  `IN_ANY_STEP` (/cancel, /lang, /help, /start) go on as they are;
- any other known command leaves the step, says so in one line, and then runs;
- an unknown command is answered "commands are not text", and the step stays.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import Message, ReplyKeyboardRemove

from bot.catalogs import gettext as _

# Handler flag: this command works inside any step without leaving it (it ends the step itself
# if it has to, like /cancel).
IN_ANY_STEP = {"in_any_step": True}

# What Telegram itself marks as a command: /name or /name@bot, then a space or the end.
COMMAND = re.compile(r"/([A-Za-z0-9_]{1,32})(?:@\w+)?(?:\s|$)")


class StepCommands:
    """The commands the routers register: which work in any state, and which only in certain states."""

    def __init__(self, router: Router):
        self.anywhere: set[str] = set()  # no state filter: runs after leaving the step
        self.in_any_step: set[str] = set()
        self.in_state: dict[str, set[str]] = {}  # command -> the states that handle it themselves
        for each in router.chain_tail:
            for handler in each.message.handlers:
                callbacks = [f.callback for f in handler.filters or ()]
                names = {
                    name.lower()
                    for c in callbacks if isinstance(c, Command)
                    for name in c.commands if isinstance(name, str)
                }
                if not names:
                    continue
                states = {
                    state if isinstance(state, str) else state.state
                    for c in callbacks if isinstance(c, StateFilter)
                    for state in c.states if state is not None
                }
                for name in names:
                    if handler.flags.get("in_any_step"):
                        self.in_any_step.add(name)
                    elif states:
                        self.in_state.setdefault(name, set()).update(states)
                    else:
                        self.anywhere.add(name)


class StepCommandMiddleware(BaseMiddleware):
    """An outer message middleware on the dispatcher, after the FSM and i18n middlewares."""

    def __init__(self, router: Router):
        self.router = router
        self._commands: StepCommands | None = None

    @property
    def commands(self) -> StepCommands:
        # Read once the routers are all included, at the first command typed into a step.
        if self._commands is None:
            self._commands = StepCommands(self.router)
        return self._commands

    async def __call__(
        self,
        handler: Callable[[Message, dict[str, Any]], Awaitable[Any]],
        event: Message,
        data: dict[str, Any],
    ) -> Any:
        raw_state: str | None = data.get("raw_state")
        match = COMMAND.match(event.text or "") if raw_state is not None else None
        if match is None:
            return await handler(event, data)
        name = match.group(1).lower()
        known = self.commands
        if name in known.in_any_step or raw_state in known.in_state.get(name, ()):
            return await handler(event, data)
        if name not in known.anywhere:
            await event.answer(
                _("Commands are not text: /{command} is not something this step can take. "
                  "Write your text, or send /cancel to stop.").format(command=name)
            )
            return None
        state: FSMContext = data["state"]
        await state.clear()
        data["raw_state"] = None  # the filters of the handlers below see the step left
        await event.answer(_("Left the previous step."), reply_markup=ReplyKeyboardRemove())
        return await handler(event, data)
