"""Indonesian names, streets and occupations the generator draws from.

Many Indonesians carry a single name or a given name followed by a second name that is not a
surname in the European sense; Batak and Minahasa families do carry a clan name (marga). The
generator writes "given second" (e.g. "Budi Santoso"), and children take their father's second
name about half of the time, which is what a family card from Sumatra commonly looks like.
"""

from __future__ import annotations

from typing import Final

MALE_GIVEN: Final = (
    "Abdul", "Adi", "Aditya", "Agus", "Ahmad", "Akbar", "Alif", "Andi", "Andika", "Anton", "Ari",
    "Arief", "Aris", "Bagus", "Bambang", "Bayu", "Beni", "Budi", "Cahyo", "Dani", "Darmawan", "Dedi",
    "Dedy", "Deni", "Dimas", "Dodi", "Doni", "Eko", "Endang", "Erik", "Fajar", "Fauzi", "Febri",
    "Ferry", "Fikri", "Gilang", "Hadi", "Hamdan", "Hari", "Hasan", "Hendra", "Heri", "Herman",
    "Hidayat", "Ibrahim", "Ikhsan", "Ilham", "Imam", "Indra", "Irfan", "Irwan", "Iwan", "Jaka",
    "Joko", "Joni", "Juanda", "Kevin", "Krisna", "Lukman", "Made", "Mahmud", "Mario", "Mulyadi",
    "Muhammad", "Nanda", "Nur", "Nyoman", "Oki", "Purnomo", "Putra", "Rahmat", "Rama", "Randi",
    "Reza", "Ridho", "Ridwan", "Rizal", "Rizki", "Robert", "Rudi", "Sandi", "Santo", "Sapto",
    "Satria", "Slamet", "Sofyan", "Sugeng", "Suharto", "Sukarno", "Supriadi", "Surya", "Syahrul",
    "Taufik", "Teguh", "Tono", "Toni", "Udin", "Umar", "Usman", "Wahyu", "Wawan", "Wayan", "Yanto",
    "Yoga", "Yogi", "Yudi", "Yusuf", "Zainal", "Zulkifli", "Arman", "Bahrul", "Chandra", "Darto",
    "Edi", "Firman", "Gunawan", "Halim", "Jamal", "Kurnia", "Marzuki", "Nasir", "Rafi", "Samsul",
)  # fmt: skip

FEMALE_GIVEN: Final = (
    "Ade", "Agustina", "Aisyah", "Alya", "Amelia", "Ani", "Anisa", "Anita", "Ayu", "Bella", "Bunga",
    "Cici", "Citra", "Dara", "Desi", "Dewi", "Dian", "Dina", "Dwi", "Eka", "Elis", "Endah", "Erna",
    "Evi", "Fadila", "Fani", "Fitri", "Gita", "Hana", "Handayani", "Hartini", "Ida", "Indah",
    "Intan", "Ira", "Kartika", "Kiki", "Lestari", "Lia", "Lina", "Lilis", "Maya", "Mega", "Melati",
    "Mira", "Nabila", "Nadia", "Nia", "Nina", "Nining", "Novi", "Nur", "Nurul", "Puji", "Putri",
    "Rahma", "Ratna", "Rina", "Rini", "Rita", "Rosa", "Sari", "Sinta", "Siti", "Sri", "Suci",
    "Sulastri", "Susi", "Tari", "Tika", "Tini", "Tri", "Umi", "Utami", "Vina", "Wati", "Widya",
    "Wulan", "Yanti", "Yuli", "Yulia", "Yuni", "Zahra", "Zulaikha", "Asih", "Badriah", "Cahaya",
    "Darsih", "Erlina", "Fatimah", "Halimah", "Juwita", "Kurniasih", "Laila", "Marlina", "Nengsih",
    "Oktaviani", "Purwati", "Rohani", "Salmah", "Suryani", "Titin", "Wahyuni", "Yusnita", "Zainab",
    "Aminah", "Khadijah", "Maryam", "Rukmini", "Sumarni", "Sutinah", "Winarti", "Aulia", "Della",
)  # fmt: skip

SECOND_NAMES: Final = (
    "Santoso", "Hidayat", "Saputra", "Pratama", "Wijaya", "Kurniawan", "Setiawan", "Nugroho",
    "Rahman", "Hakim", "Siregar", "Nasution", "Lubis", "Harahap", "Simanjuntak", "Sitompul",
    "Pohan", "Ginting", "Tarigan", "Sembiring", "Purba", "Hutapea", "Panjaitan", "Manurung",
    "Sinaga", "Situmorang", "Silalahi", "Sihombing", "Putra", "Putri", "Sari", "Wati", "Lestari",
    "Handayani", "Rahayu", "Susanti", "Wulandari", "Permata", "Maharani", "Anggraini", "Fitriani",
    "Kusuma", "Wibowo", "Susilo", "Hartono", "Sutrisno", "Suryadi", "Firmansyah", "Ramadhan",
    "Syahputra", "Gunawan", "Halim", "Hasibuan", "Daulay", "Rangkuti", "Matondang", "Batubara",
    "Effendi", "Iskandar", "Sulaiman", "Yusuf", "Hamid", "Arifin", "Mahendra", "Wardana",
    "Prasetyo", "Utomo", "Sasmita", "Hermawan", "Kartono", "Subagyo", "Sumarno", "Suparman",
    "Rusdi", "Zulkarnain", "Mansur", "Anwar", "Basri", "Syafii", "Jamil", "Fauzan", "Maulana",
    "Habibie", "Munandar", "Taufiq", "Rosyid", "Amir", "Yahya", "Idris", "Ilyas", "Ismail",
    "Pangaribuan", "Marpaung", "Tampubolon", "Simatupang", "Aritonang", "Lumbantobing", "Saragih",
    "Damanik", "Sirait", "Pasaribu", "Manullang", "Tambunan", "Sianturi", "Napitupulu", "Pane",
    "Ritonga", "Dalimunthe", "Tanjung", "Chaniago", "Piliang", "Koto", "Sikumbang", "Jambak",
)  # fmt: skip

STREETS: Final = (
    "Jl. Merapi", "Jl. Soekarno-Hatta", "Jl. Jenderal Sudirman", "Jl. Ahmad Yani", "Jl. Salak",
    "Jl. Semangka", "Jl. Kapuas", "Jl. Mahoni", "Jl. Hibrida", "Jl. Flamboyan", "Jl. Cendana",
    "Jl. Pariwisata", "Jl. Danau", "Jl. Bumi Ayu", "Jl. Kinibalu", "Jl. Dempo", "Jl. Sumatera",
    "Jl. Jawa", "Jl. Bali", "Jl. Kalimantan", "Jl. Sulawesi", "Jl. Irian", "Jl. Citandui",
    "Jl. Batanghari", "Jl. Musi", "Jl. Bengawan Solo", "Jl. Mangga Dua", "Jl. Nusa Indah",
    "Jl. Melati", "Jl. Mawar", "Jl. Anggrek", "Jl. Kenanga", "Jl. Teratai", "Jl. Kamboja",
    "Jl. Pembangunan", "Jl. Pramuka", "Jl. Veteran", "Jl. Pahlawan", "Jl. Merdeka", "Jl. Kartini",
    "Jl. Diponegoro", "Jl. Imam Bonjol", "Jl. Hasanuddin", "Jl. Pattimura", "Jl. Fatmawati",
    "Gg. Damai", "Gg. Sepakat", "Gg. Rukun", "Gg. Mushola", "Gg. Masjid", "Gg. Kelapa",
)  # fmt: skip

ADULT_OCCUPATIONS: Final = (
    "petani", "buruh tani", "nelayan", "buruh harian lepas", "pedagang", "wiraswasta",
    "karyawan swasta", "sopir", "tukang bangunan", "tukang ojek", "penjahit", "montir",
    "pegawai honorer", "guru honorer", "mengurus rumah tangga", "tidak bekerja",
)  # fmt: skip
