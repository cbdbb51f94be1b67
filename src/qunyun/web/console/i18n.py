"""Console texts in Chinese (the default) and English."""

from __future__ import annotations

LANGUAGES = ("zh", "en")
LANG_COOKIE = "qunyun_lang"

TEXTS: dict[str, tuple[str, str]] = {
    "app": ("群运控制台", "Qunyun console"),
    "login": ("登录", "Log in"),
    "logout": ("退出", "Log out"),
    "tenant": ("租户（品牌）", "Tenant (brand)"),
    "username": ("用户名", "Username"),
    "password": ("密码", "Password"),
    "bad_login": ("租户、用户名或密码不正确", "Wrong tenant, username or password"),
    "overview": ("总览", "Overview"),
    "matrix": ("社群矩阵", "Matrix"),
    "plan": ("计划", "Plan"),
    "handover": ("交接", "Handover"),
    "coverage": ("终端店入群覆盖率", "Store coverage"),
    "active_stores": ("营业门店", "Active stores"),
    "covered": ("已入群", "In a group"),
    "groups_by_matrix": ("各矩阵社群数", "Groups by matrix"),
    "groups": ("社群", "Groups"),
    "region": ("区域", "Region"),
    "rep": ("业务员", "Rep"),
    "group": ("群", "Group"),
    "members": ("成员", "Members"),
    "member_count": ("人数", "Members"),
    "staff_seats": ("员工席位", "Staff seats"),
    "breaches": ("违规", "Rule breaches"),
    "no_breaches": ("符合全部规则", "Follows every rule"),
    "kind": ("类型", "Kind"),
    "id": ("编号", "Id"),
    "name": ("名称", "Name"),
    "role": ("角色", "Role"),
    "joined_at": ("入群时间", "Joined"),
    "uncovered": ("未入群门店", "Stores in no group"),
    "reason": ("原因", "Reason"),
    "no_groups": ("你的范围内还没有社群", "No groups in your scope yet"),
    "pending_plan": ("待应用计划", "Pending plan"),
    "no_pending": ("没有待应用的计划", "No pending plan"),
    "compute_plan": ("计算计划", "Compute plan"),
    "apply_plan": ("应用计划", "Apply plan"),
    "computing": ("正在计算，请稍候…", "Computing, please wait…"),
    "applying": ("正在应用，请稍候…", "Applying, please wait…"),
    "applied": ("计划已应用", "Plan applied"),
    "computed": ("计划已计算", "Plan computed"),
    "nothing_to_change": (
        "社群矩阵已符合规则，无需变更",
        "The matrix already follows the rules: nothing to change",
    ),
    "diff": ("变更明细", "Changes"),
    "change": ("变更", "Change"),
    "summary": ("汇总", "Summary"),
    "from": ("交出人", "From"),
    "to": ("接手人", "To"),
    "run_handover": ("办理交接", "Hand over"),
    "handing_over": ("正在交接…", "Handing over…"),
    "handover_done": ("交接完成", "Handover done"),
    "stores": ("门店", "Stores"),
    "reports": ("下属", "Reports"),
    "seats_closed": ("关闭席位", "Seats closed"),
    "seats_opened": ("新增席位", "Seats opened"),
    "error": ("出错了", "Something went wrong"),
    "back": ("返回总览", "Back to overview"),
    "read_only": ("只读", "read-only"),
    "only_hq_plans": (
        "只有总部管理员和分析员可以查看全国计划",
        "Only HQ and analysts see the national plan",
    ),
    "shown_first": ("仅显示前 200 条", "First 200 shown"),
    "groups_created": ("新建群", "Groups created"),
    "groups_archived": ("归档群", "Groups archived"),
    "members_added": ("加入成员", "Members added"),
    "members_removed": ("移出成员", "Members removed"),
    "members_moved": ("其中换群", "Of which moved"),
    "staff_seats_added": ("员工席位+", "Staff seats +"),
    "staff_seats_removed": ("员工席位-", "Staff seats −"),
    "matrix_store": ("终端店群", "Store groups"),
    "matrix_dealer": ("经销商群", "Dealer groups"),
    "matrix_consumer": ("消费者群", "Consumer groups"),
    "matrix_vip": ("VIP群", "VIP groups"),
    "change_create_group": ("新建群", "create group"),
    "change_archive_group": ("归档群", "archive group"),
    "change_join": ("加入", "join"),
    "change_leave": ("移出", "leave"),
    "language": ("English", "中文"),
}


def translate(lang: str, key: str) -> str:
    """Return the text of ``key`` in ``lang`` (the key itself when it is unknown)."""
    texts = TEXTS.get(key)
    if texts is None:
        return key
    return texts[1] if lang == "en" else texts[0]
