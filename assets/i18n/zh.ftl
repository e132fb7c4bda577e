# 简体中文。src/ui/i18n.rs 中的每个消息 id 都必须在此定义。
language-name = 中文
app-title = 数字身份登记
attract-greeting = 欢迎！在这里办理您的数字身份。
attract-subtitle = 请准备好您的身份证，大约需要两分钟。
attract-start = 开始
attract-choose-language = 选择语言
consent-title = 开始之前
consent-body = 本终端将读取您的身份证，并拍摄您的面部照片，以核实您是证件持有人。您的照片和证件信息在本终端加密，只发送给身份登记中心。您离开后，屏幕上不会保留任何信息。
consent-accept = 我同意
consent-decline = 取消
place-card-title = 请将身份证放在读卡器上
place-card-body = 请将身份证平放在读卡器上，在提示取走之前不要移开。
place-card-cancel = 取消
