//! Name pools for synthetic people and places, flavoured by province. The
//! names are common ones; no real person is meant.

pub const MALE: &[&str] = &[
    "Muhammad Aslam", "Muhammad Akram", "Muhammad Ashraf", "Muhammad Iqbal", "Muhammad Riaz",
    "Muhammad Tariq", "Muhammad Asif", "Muhammad Imran", "Muhammad Bilal", "Muhammad Usman",
    "Muhammad Yousaf", "Muhammad Ramzan", "Muhammad Shafi", "Muhammad Nawaz", "Ghulam Hussain",
    "Ghulam Rasool", "Ghulam Mustafa", "Ghulam Qadir", "Ghulam Sarwar", "Allah Ditta",
    "Allah Bux", "Khuda Bux", "Nazir Ahmed", "Bashir Ahmed", "Rashid Ali", "Sajid Ali",
    "Zahid Hussain", "Abdul Rehman", "Abdul Ghafoor", "Abdul Sattar", "Abdul Hameed",
    "Abdul Wahid", "Abdul Qayyum", "Ali Raza", "Ali Hassan", "Hassan Ali", "Imtiaz Ali",
    "Mumtaz Ali", "Shaukat Ali", "Liaqat Ali", "Sher Ali", "Fazal Din", "Noor Muhammad",
    "Gul Muhammad", "Dost Muhammad", "Jan Muhammad", "Faiz Muhammad", "Sultan Ahmed",
    "Irfan", "Kamran", "Adnan", "Faisal", "Waqas", "Zeeshan", "Hamza", "Umar", "Ahmed",
    "Ayaz", "Naveed", "Shahid", "Javed", "Pervaiz", "Arshad", "Khalid", "Saeed", "Rafiq",
    "Siddique", "Yaqoob", "Ismail", "Ibrahim", "Hanif", "Latif", "Majeed", "Karim",
    "Wali Khan", "Gul Zaman", "Noor Zaman", "Bakht Zada", "Sher Zaman", "Amanullah",
    "Habibullah", "Rahmatullah", "Saifullah", "Ehsanullah", "Abdullah", "Naimatullah",
];

pub const FEMALE: &[&str] = &[
    "Fatima", "Ayesha", "Khadija", "Zainab", "Maryam", "Amina", "Hajra", "Sakina", "Rukhsana",
    "Shamim", "Nasreen", "Parveen", "Naseem", "Shahnaz", "Razia", "Zubaida", "Sughran",
    "Bashiran", "Hameeda", "Rasheeda", "Jamila", "Nusrat", "Kausar", "Tahira", "Samina",
    "Shazia", "Nazia", "Rubina", "Farzana", "Saima", "Asma", "Sadia", "Rabia", "Sana",
    "Iqra", "Hina", "Mehwish", "Sidra", "Kiran", "Mahnoor", "Areeba", "Laiba", "Noor",
    "Anam", "Bushra", "Shabana", "Gulnaz", "Gul Bano", "Zarina", "Bibi Jan", "Noor Jahan",
    "Mumtaz Begum", "Sakeena Bibi", "Safia", "Halima", "Sharifan", "Allah Rakhi", "Rani",
    "Sobia", "Uzma", "Musarrat", "Yasmeen", "Perveen Akhtar", "Gulshan", "Zahida", "Abida",
    "Sajida", "Majida", "Wajida", "Shagufta", "Nighat", "Riffat", "Ambreen", "Fozia",
];

/// Family or clan names by province (index: CNIC digit - 1).
pub const FAMILY: [&[&str]; 8] = [
    // Khyber Pakhtunkhwa
    &["Khan", "Yousafzai", "Afridi", "Khattak", "Mohmand", "Swati", "Marwat", "Bangash",
      "Durrani", "Shah", "Jadoon", "Tanoli", "Kakakhel", "Orakzai", "Gandapur"],
    // merged tribal districts
    &["Afridi", "Wazir", "Mehsud", "Orakzai", "Mohmand", "Shinwari", "Tarkalani", "Bangash",
      "Turi", "Dawar", "Khan"],
    // Punjab
    &["Chaudhry", "Malik", "Butt", "Awan", "Gujjar", "Rajput", "Jatt", "Arain", "Qureshi",
      "Sheikh", "Bhatti", "Khokhar", "Cheema", "Warraich", "Ansari", "Hashmi", "Baloch",
      "Leghari", "Gondal", "Sial"],
    // Sindh
    &["Memon", "Jatoi", "Soomro", "Bhutto", "Chandio", "Shaikh", "Magsi", "Abro", "Kalhoro",
      "Mahar", "Junejo", "Lashari", "Unar", "Solangi", "Qureshi", "Siddiqui", "Ansari"],
    // Balochistan
    &["Baloch", "Marri", "Bugti", "Mengal", "Rind", "Raisani", "Zehri", "Kakar", "Achakzai",
      "Tareen", "Jamali", "Lehri", "Notezai", "Mandokhail"],
    // Islamabad Capital Territory
    &["Abbasi", "Awan", "Satti", "Qureshi", "Malik", "Raja", "Khan", "Kiani", "Janjua"],
    // Gilgit-Baltistan
    &["Baig", "Shah", "Hussain", "Khan", "Balti", "Ali", "Hunzai", "Karim", "Nagri"],
    // Azad Jammu and Kashmir
    &["Raja", "Sudhan", "Abbasi", "Mughal", "Chaudhry", "Rathore", "Awan", "Kiani", "Khan"],
];

/// Stems for synthetic village / mauza names by province (index: CNIC digit - 1).
pub const VILLAGE_STEMS: [&[&str]; 8] = [
    &["Kili", "Banda", "Dheri", "Kalay", "Kot", "Mohallah", "Garhi"],
    &["Kili", "Banda", "Qila", "Kalay"],
    &["Chak", "Kot", "Basti", "Pind", "Dera", "Mauza", "Jhok", "Wala"],
    &["Goth", "Deh", "Mohallah", "Paro", "Village"],
    &["Killi", "Goth", "Kalat", "Mohallah"],
    &["Mauza", "Sector", "Village"],
    &["Mohallah", "Village", "Khor"],
    &["Mohallah", "Dhok", "Village", "Bandi"],
];

pub const VILLAGE_NAMES: &[&str] = &[
    "Ali Muhammad", "Sher Khan", "Noor Shah", "Bhaloo", "Jhangar", "Rahimabad", "Fatehpur",
    "Karimabad", "Dost Ali", "Allahabad", "Gulshan", "Sultanpur", "Rasoolpur", "Nawabad",
    "Hussainabad", "Faizabad", "Pir Bux", "Jamal Din", "Mian Wali", "Saidu", "Daulatpur",
    "Kamalpur", "Bakhtawar", "Qasimabad", "Usmanabad", "Haji Khan", "Malkani", "Landhi",
];

pub const OCCUPATIONS_POOR: &[&str] = &[
    "daily wage labourer", "agricultural labourer", "domestic worker", "brick kiln worker",
    "street vendor", "rickshaw driver", "tenant farmer", "construction labourer",
    "sanitation worker", "herder",
];
pub const OCCUPATIONS_MIDDLE: &[&str] = &[
    "shopkeeper", "tailor", "driver", "mason", "electrician", "mechanic", "farmer",
    "factory worker", "security guard", "barber", "carpenter", "cook",
];
pub const OCCUPATIONS_BETTER: &[&str] = &[
    "government servant", "teacher", "clerk", "trader", "landowner", "nurse",
    "police constable", "accountant", "engineer", "overseas worker",
];
