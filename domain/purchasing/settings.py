"""The purchasing context's settings: `MCS_ERP_*` environment variables or `mcs-erp.toml`, as the process's
Settings (domain.kernel.settings), kept here because only this context reads them."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource


class PurchasingSettings(BaseSettings):
    """The three-way match's price tolerance and the supplier payment gate."""

    model_config = SettingsConfigDict(env_prefix="MCS_ERP_", toml_file="mcs-erp.toml", extra="ignore")

    purchase_price_tolerance_bp: int = Field(
        default=200, ge=0, le=10_000,
        description="How far a supplier bill's unit cost may differ from the purchase order's, in basis points "
                    "(1/100 of a percent) of the ordered cost; further off, the bill is refused (three-way match). "
                    "Default 200 (2%).")
    supplier_payment_approve_above_minor: int = Field(
        default=500_000, ge=0, le=10**15,
        description="A supplier payment larger than this (integer minor units) needs an admin's approval (four "
                    "eyes); at or below it the requester's confirmation is enough. Default 500000 (5,000.00 in a "
                    "currency with 2 decimals).")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource):
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))
