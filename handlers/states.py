"""All multi-step forms."""

from aiogram.fsm.state import State, StatesGroup


class FindGrid(StatesGroup):
    searching = State()  # a name to search, or a shared location


class TicketForm(StatesGroup):
    kind = State()
    category = State()
    duplicates = State()  # open tickets of the same grid and category: "me too" or go on
    description = State()  # text, photos, location; then "done"
    confirm = State()
    callback = State()  # 📞 call me back: the resident shares their own number with the contact button


class ResidentAnswer(StatesGroup):
    text = State()  # answer to staff on a ticket


class Withdraw(StatesGroup):
    reason = State()  # then a confirmation with buttons


class Reopen(StatesGroup):
    reason = State()


class RatingComment(StatesGroup):
    text = State()


class StaffReply(StatesGroup):
    text = State()


class Resolve(StatesGroup):
    note = State()
    photos = State()  # optional "after" photos, then done


class Escalate(StatesGroup):
    reason = State()  # then, at the town, the department picker


class HandOver(StatesGroup):
    reason = State()  # the target grid is chosen first


class ReturnTicket(StatesGroup):
    reason = State()  # a department returns a ticket to the town command centre (退回)


class ShopRate(StatesGroup):
    scores = State()  # cleanliness, order, service: 1 to 5 each, with buttons
    comment = State()  # optional; /skip


class Inspect(StatesGroup):
    note = State()  # required
    photos = State()  # up to 5, then done


class InternalNote(StatesGroup):
    text = State()  # a note on a ticket that only staff see


class Moderate(StatesGroup):
    review = State()  # the public text and photos of one ticket, with buttons (the draft is in the form)
    text = State()  # staff write the public text
class PhoneCall(StatesGroup):
    note = State()  # staff called the resident back (已电话联系): what was said, for staff


class VisitNote(StatesGroup):
    note = State()  # the outcome of a return visit (回访) is chosen; then a note
