"""Demonstration data for Wuhua County (五华县): its organisations, places, and a season of its
specialities, each with a realistic record. Loading twice changes nothing: every write
has a fixed idempotency key and a fixed event time, and registry rows are created once.

The stories (all in 2026), one module per kind of produce:
- vegetables: 五华高山红薯 highland sweet potato: fertiliser, harvest, lab pass, cold chain
  10-15 °C, packed in 5 kg boxes, delivered to the town service centre. 梅菜 preserved mustard
  greens: harvest, salting and sun-drying, a FAILED nitrite test.
- rice: 丝苗米 Simiao rice: fertiliser and pesticide, harvest, lab pass, split: one part bagged,
  warehoused and sold online, the other to the distillery, which distils 长乐烧 Changle rice
  spirit from it (a transform into bottles), lab pass.
- fruit: 益塘水库荔枝 lychee: pesticide well before harvest, lab pass, cold chain 2-8 °C, packed,
  delivered to a village station; from a poverty-alleviation household (扶贫产品 mark on).
  茶亭岗金柚 golden pomelo: harvest, lab pass, split into two lots, then RECALLED with both.

county.py holds the registry data (places, organisations, products, certificates), writer.py
how a story's steps are recorded, load.py the order everything is loaded in.
"""

from farmtrace.trace.demo.county import OPERATOR
from farmtrace.trace.demo.load import load_demo
from farmtrace.trace.demo.writer import DemoSummary

__all__ = ["OPERATOR", "DemoSummary", "load_demo"]
