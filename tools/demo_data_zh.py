"""The Chinese demo world (``fieldsync demo --locale zh-CN``): a service organisation in Shanghai.

Data, not interface text, so a module and not a message catalog: customers,
faults and people are what users would type, and they need not pair up with
the English ones one by one.  The shape is the English world's (the same part
numbers, checklist keys, priorities and jobs, so the simulated offline day runs
unchanged); prices are in fen; the server runs on Asia/Shanghai with China's
public holidays and make-up working days (调休) and speaks Chinese.
"""

from __future__ import annotations

from tools.demo_data import ENGLISH, DemoWorld, OfflineDay

CHINESE = DemoWorld(
    engineers=[("e-wang", "王建国", ["boiler", "heat-pump"]), ("e-li", "李明", ["boiler"]),
               ("e-zhang", "张伟", ["chiller", "boiler"])],
    parts=[("P-VALVE", "燃气阀", False, 38000), ("P-IGN", "点火电极", False, 12000),
           ("P-PCB", "控制主板", True, 168000), ("P-PUMP", "循环水泵", True, 220000),
           ("P-SEAL", "密封件套装", False, 5000)],
    tickets=[
        ("某某大酒店", "上海市黄浦区 锅炉房", "P1", "fault", "锅炉停机，无生活热水", "SN-1001"),
        ("某某医院", "上海市浦东新区 住院部B栋", "P2", "fault", "冷水机组报警，风机异响", "SN-2002"),
        ("某某烘焙坊", "上海市徐汇区 中山南路门店", "P3", "fault", "夜间系统压力下降", "SN-3003"),
        ("某某科技园", "上海市闵行区 C栋", "P3", "inspection", "锅炉年度巡检", "SN-4004"),
        ("某某大酒店", "上海市黄浦区 水疗中心", "complaint", "complaint", "工程师未做测试即离开现场", "SN-1002"),
    ],
    customers={
        "某某大酒店": ([("陈经理", "021-6321 0000", "工程部经理")], "ERP-C-2001"),
        "某某医院": ([("王工", "021-5888 0000", "设备科")], "ERP-C-2002"),
        "某某烘焙坊": ([("刘店长", "138 0000 0000", "店长")], "ERP-C-2003"),
        "某某科技园": ([("物业服务中心", "021-6400 0000", "物业")], "ERP-C-2004"),
    },
    template_name="锅炉保养",
    template_items=[("gas_tight", "燃气气密性测试合格"), ("flue_co2", "烟气 CO2（%）"),
                    ("pressure_bar", "系统压力（bar）"), ("condition", "整体状况"),
                    ("photo_plate", "铭牌照片"), ("remarks", "备注")],
    warehouse="上海中心仓库",
    returns="旧件退回处",
    email_domain="example.cn",
    kb_cases=[
        ("冷水机组风机异响，运行时有周期性摩擦声", "风机轴承磨损，叶轮轻微偏心", "更换风机轴承并做动平衡校正", [],
         "CH-200", "chiller"),
        ("锅炉点火失败，反复熄火", "点火电极积碳磨损", "更换点火电极，清理燃烧器", ["P-IGN"], "B-24", "boiler"),
        ("系统压力夜间下降", "密封件老化渗漏", "更换密封件套装并补压至 1.5 bar", ["P-SEAL"], "B-24", "boiler"),
    ],
    offline_day=OfflineDay(diagnosis="点火电极磨损", other_diagnosis="燃气阀卡滞",
                           resolution="更换密封件，系统压力恢复正常", signer="李经理", tablet="平板 {name}"),
    env={"FIELDSYNC_TZ": "Asia/Shanghai", "FIELDSYNC_HOLIDAYS": "CN", "FIELDSYNC_LOCALE": "zh_CN"},
)

#: the demo world of each locale the catalogs hold (``--locale`` of ``demo`` and ``admin seed-demo``)
WORLDS: dict[str, DemoWorld] = {"en": ENGLISH, "zh_CN": CHINESE}
