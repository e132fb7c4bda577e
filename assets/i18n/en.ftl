# English. Every message id in src/ui/i18n.rs must be defined here.
language-name = English
app-title = Digital identity enrollment
attract-greeting = Welcome! Get your digital identity here.
attract-subtitle = Have your identity card ready. It takes about two minutes.
attract-start = Start
attract-choose-language = Choose your language
consent-title = Before we begin
consent-body = This terminal reads your identity card and takes a photo of your face to check that you are the card holder. Your photo and card data are encrypted on this terminal and sent only to the identity registry. Nothing is kept on the screen after you leave.
consent-accept = I agree
consent-decline = Cancel
place-card-title = Place your card on the reader
place-card-body = Put your identity card flat on the reader and leave it there until you are asked to take it away.
place-card-cancel = Cancel
