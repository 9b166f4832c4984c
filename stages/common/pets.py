"""Facts about the Oxford-IIIT Pet data set that every stage agrees on."""

from __future__ import annotations

from dataclasses import dataclass

# annotations/list.txt opens with exactly these comment lines in the real data set.
LIST_HEADER = (
    "#Image CLASS-ID SPECIES BREED ID",
    "#ID: 1:37 Class ids",
    "#SPECIES: 1:Cat 2:Dog",
    "#BREED ID: 1-25:Cat 1:12:Dog",
    "#All images with 1st letter as captial are cat images",
    "#images with small first letter are dog images",
)

# Trimap pixel values.
PET, BACKGROUND, BORDER = 1, 2, 3
TRIMAP_VALUES = (PET, BACKGROUND, BORDER)

CAT, DOG = 1, 2
SPECIES_NAMES = {CAT: "cat", DOG: "dog"}

_CATS = (
    "Abyssinian",
    "Bengal",
    "Birman",
    "Bombay",
    "British_Shorthair",
    "Egyptian_Mau",
    "Maine_Coon",
    "Persian",
    "Ragdoll",
    "Russian_Blue",
    "Siamese",
    "Sphynx",
)
_DOGS = (
    "american_bulldog",
    "american_pit_bull_terrier",
    "basset_hound",
    "beagle",
    "boxer",
    "chihuahua",
    "english_cocker_spaniel",
    "english_setter",
    "german_shorthaired",
    "great_pyrenees",
    "havanese",
    "japanese_chin",
    "keeshond",
    "leonberger",
    "miniature_pinscher",
    "newfoundland",
    "pomeranian",
    "pug",
    "saint_bernard",
    "samoyed",
    "scottish_terrier",
    "shiba_inu",
    "staffordshire_bull_terrier",
    "wheaten_terrier",
    "yorkshire_terrier",
)


@dataclass(frozen=True)
class Breed:
    """One of the 37 breeds: its file-name stem and the ids list.txt gives it."""

    name: str
    class_id: int  # 1..37, alphabetical ignoring case
    species: int  # CAT or DOG
    breed_id: int  # 1..12 for cats, 1..25 for dogs


def _breeds() -> tuple[Breed, ...]:
    ordered = sorted(_CATS + _DOGS, key=str.lower)
    return tuple(
        Breed(
            name,
            class_id=i + 1,
            species=CAT if name in _CATS else DOG,
            breed_id=(_CATS.index(name) if name in _CATS else _DOGS.index(name)) + 1,
        )
        for i, name in enumerate(ordered)
    )


BREEDS: tuple[Breed, ...] = _breeds()
BREEDS_BY_NAME: dict[str, Breed] = {b.name: b for b in BREEDS}


def breed_of_image_id(image_id: str) -> Breed | None:
    """The breed named by an image id like 'Bengal_12' or 'great_pyrenees_3', if known."""
    stem, _, number = image_id.rpartition("_")
    if not number.isdigit():
        return None
    return BREEDS_BY_NAME.get(stem)
