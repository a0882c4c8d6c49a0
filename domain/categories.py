"""The service areas a new database starts with; admins change them with `gridbot import categories`."""

from __future__ import annotations

from domain.models import Category

# The town command centre itself: a category that names it stays with the town and is never
# routed to the department tier.
COMMAND_CENTRE = "综合指挥中心"

# (code, 中文, English, responsible department, reply hours, resolve hours)
_DEFAULTS = [
    ("water", "供水", "Water supply", "水务局", 2, 24),
    ("power", "供电", "Electricity", "供电公司", 2, 24),
    ("gas", "燃气供暖", "Gas and heating", "住建局", 2, 24),
    ("roads", "道路交通", "Roads and traffic", "交通运输局", 2, 48),
    ("sanitation", "环境卫生", "Sanitation and rubbish", "城管局", 2, 24),
    ("greenery", "绿化园林", "Parks and greenery", "城管局", 4, 72),
    ("medical", "医疗卫生", "Medical care", "卫健局", 2, 24),
    ("schools", "教育", "Schools and education", "教体局", 4, 48),
    ("public_order", "社会治安", "Public order", "公安局", 1, 12),
    ("housing", "住房物业", "Housing and property management", "住建局", 4, 72),
    ("social_security", "社会保障", "Social security and pensions", "人社局", 4, 72),
    ("employment", "就业创业", "Jobs and business start-up", "人社局", 4, 72),
    ("civil_affairs", "民政救助", "Welfare and assistance", "民政局", 4, 48),
    ("elderly", "养老服务", "Care for the elderly", "民政局", 4, 48),
    ("agriculture", "农业农村", "Farming and rural affairs", "农业农村局", 4, 72),
    ("environment", "生态环境", "Pollution and environment", "生态环境局", 2, 48),
    ("food_safety", "食品药品安全", "Food and drug safety", "市场监管局", 2, 24),
    ("market", "市场监管", "Shops, prices and consumers", "市场监管局", 4, 48),
    ("safety", "安全生产", "Work and fire safety", "应急管理局", 1, 12),
    ("disputes", "矛盾纠纷", "Neighbour disputes", "司法局", 4, 48),
    ("public_transport", "公共交通", "Buses and public transport", "交通运输局", 4, 72),
    ("telecom", "通信网络", "Phone and internet", "工信局", 4, 72),
    ("other", "其他", "Other", COMMAND_CENTRE, 4, 72),
]

DEFAULT_CATEGORIES: tuple[Category, ...] = tuple(
    Category(code, zh, en, dept, float(reply), float(resolve))
    for code, zh, en, dept, reply, resolve in _DEFAULTS
)
