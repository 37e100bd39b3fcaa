"""The inventory context's settings: `MCS_ERP_*` environment variables or `mcs-erp.toml`, as the process's
Settings (domain.kernel.settings), kept here because only this context reads them."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource


class InventorySettings(BaseSettings):
    """Gate settings of the inventory context."""

    model_config = SettingsConfigDict(env_prefix="MCS_ERP_", toml_file="mcs-erp.toml", extra="ignore")

    stocktake_approve_above_minor: int = Field(
        default=100_000, ge=0, le=10**15,
        description="A stocktake whose adjustments are worth more than this in total (gains and losses alike, "
                    "integer minor units) needs an admin's approval (four eyes); at or below it the requester's "
                    "confirmation is enough. Default 100000 (1,000.00 in a currency with 2 decimals).")

    shop_refund_approve_above_minor: int = Field(
        default=50_000, ge=0, le=10**15,
        description="A shop return refunding more than this (GST included, integer minor units) needs an admin's "
                    "approval (four eyes); at or below it the requester's confirmation is enough. Default 50000 "
                    "(500.00 in a currency with 2 decimals).")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource):
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))
