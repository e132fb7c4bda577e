# Bahasa Indonesia. Setiap id pesan di src/ui/i18n.rs harus didefinisikan di sini.
language-name = Bahasa Indonesia
app-title = Pendaftaran identitas digital
attract-greeting = Selamat datang! Dapatkan identitas digital Anda di sini.
attract-subtitle = Siapkan kartu identitas Anda. Prosesnya sekitar dua menit.
attract-start = Mulai
attract-choose-language = Pilih bahasa Anda
consent-title = Sebelum kita mulai
consent-body = Terminal ini membaca kartu identitas Anda dan mengambil foto wajah Anda untuk memastikan bahwa Anda pemegang kartu. Foto dan data kartu Anda dienkripsi di terminal ini dan hanya dikirim ke registri identitas. Tidak ada yang tersisa di layar setelah Anda pergi.
consent-accept = Saya setuju
consent-decline = Batal
place-card-title = Letakkan kartu Anda di pembaca
place-card-body = Letakkan kartu identitas Anda rata di atas pembaca dan biarkan di sana sampai Anda diminta mengambilnya.
place-card-cancel = Batal
