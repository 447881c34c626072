"""The registry: organisations, places, products and their certificates, uploaded documents.

Each organisation, place, product and product certificate is also recorded in the ledger on
a reserved chain (see trace.registry_chain); these rows are the working copy the services
query. The poverty-alleviation flags are deliberately not in the ledger (personal data).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from farmtrace.ledger.db import Base


class Place(Base):
    __tablename__ = "trace_place"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("trace_place.id"), index=True)
    gln: Mapped[str | None] = mapped_column(String(13), unique=True)
    latitude: Mapped[str | None] = mapped_column(String(16))
    longitude: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Org(Base):
    __tablename__ = "trace_org"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    kind: Mapped[str] = mapped_column(String(24), index=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    place_id: Mapped[str | None] = mapped_column(ForeignKey("trace_place.id"))
    parent_org_id: Mapped[str | None] = mapped_column(ForeignKey("trace_org.id"))
    # 建档立卡贫困户: operator statistics only; consumers see the 扶贫产品 mark only when the
    # operator enables it for this household.
    poverty_household: Mapped[bool] = mapped_column(Boolean, default=False)
    poverty_mark_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Product(Base):
    __tablename__ = "trace_product"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    owner_org_id: Mapped[str] = mapped_column(ForeignKey("trace_org.id"), index=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(24))
    specification: Mapped[str | None] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(16))
    gtin: Mapped[str | None] = mapped_column(String(14), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ProductCertificate(Base):
    """A 三品一标 certificate of a product: 无公害, 绿色食品, 有机 or 地理标志."""

    __tablename__ = "trace_product_certificate"
    __table_args__ = (UniqueConstraint("product_id", "scheme", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("trace_product.id"), index=True)
    scheme: Mapped[str] = mapped_column(String(32))
    number: Mapped[str] = mapped_column(String(64))
    issuer: Mapped[str] = mapped_column(String(200))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Document(Base):
    """An uploaded file (a lab report PDF), addressed by the SHA-256 of its bytes."""

    __tablename__ = "trace_document"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str | None] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str | None] = mapped_column(ForeignKey("trace_org.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
