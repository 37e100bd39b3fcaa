"""The timetable context's settings: `MCS_ERP_*` environment variables or `mcs-erp.toml`, as the process's
Settings (domain.kernel.settings), kept here because only this context reads them."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource


class TimetableSettings(BaseSettings):
    """Cover and calendar settings of the timetable context."""

    model_config = SettingsConfigDict(env_prefix="MCS_ERP_", toml_file="mcs-erp.toml", extra="ignore")

    cover_max_per_week: int = Field(
        default=3, ge=1, le=40, description="The most lessons a teacher covers or supervises in one week (Monday to "
                                            "Sunday); cover proposals never exceed it.")
    timetable_holidays_country: str | None = Field(
        default=None, min_length=2, max_length=2,
        description="ISO 3166-1 code (AU) whose public holidays calendar feeds skip; unset: none skipped.")
    timetable_holidays_subdivision: str | None = Field(
        default=None, max_length=10, description="Its state or territory (VIC, NSW, ...), for state holidays too.")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource):
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))
