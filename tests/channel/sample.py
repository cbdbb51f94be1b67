"""Small channel files for import tests."""

from __future__ import annotations

from pathlib import Path

STAFF_CSV = """员工编号,姓名,角色,上级编号,区域,电话
D1,王建国,总监,,,13800000001
M1,李经理,经理,D1,广东,13800000002
S1,张主管,主管,M1,广州,
R1,赵业务,业务员,S1,广州市天河区,020-12345678
R2,钱业务,业务员,S1,广州市越秀区,+86 138 0000 0005
A1,孙群管,群管理员,M1,广东,
"""

DISTRIBUTORS_CSV = """distributor_id,name,tier,parent_id,province,city,district,boss_name,phone
G1,广州一级商贸,一级,,广东,广州,,陈老板,13900000001
G2,天河二级批发,2,G1,广东,广州,天河,,
G3,越秀三级,三级,G2,广东,广州,越秀,,
"""

STORES_CSV = """门店编号,门店名称,省,市,区/区县,地址,门店类型,年进货额,亲密度,成长性,业务员编号,经销商编号,电话,状态
S0001,天河好邻居便利店,广东,广州,天河,天河路1号,便利店,"150,000",4,潜力,R1,G2,13812345678,营业
S0002,越秀华润万家,广东省,广州市,越秀区,,超市,350000.50,5,稳定,R2,G3,,营业
S0003,东莞小卖部,广东,东莞,,,其他,8000,2,下滑,R1,,,关闭
"""

CONSUMERS_CSV = """consumer_id,name,city,district,role,kol_kind,source,phone
C1,刘宝妈,广州,天河,KOL,宝妈群主,小红书,13700000001
C2,周大爷,广州,越秀,种子用户,,门店扫码,
C3,吴粉丝,杭州,,粉丝,,抖音,
"""


def write(directory: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``directory/name`` in ``encoding`` and return the path."""
    path = directory / name
    path.write_bytes(text.encode(encoding))
    return path
