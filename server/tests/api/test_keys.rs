//! Throw-away signing keys for the Supabase tests (made for these tests, used nowhere else): two
//! P-256 keys (ES256) and one RSA-2048 key (RS256), each with its public JWK coordinates.

pub const EC_A_PEM: &str = "\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg9pDiHBGLtO5lr+s0
DsEx7yWuzSjnWvvvOt6/4WDmmKihRANCAARvGHsqeCdnkp2O4cUdNvUQsnGyQxxG
fSuT8nAGR+PCOZLsDThAVoNIGnvZQamQdmIk+nk+npo/xu46Y3Be1frW
-----END PRIVATE KEY-----
";
pub const EC_A_X: &str = "bxh7KngnZ5KdjuHFHTb1ELJxskMcRn0rk_JwBkfjwjk";
pub const EC_A_Y: &str = "kuwNOEBWg0gae9lBqZB2YiT6eT6emj_G7jpjcF7V-tY";
pub const EC_B_PEM: &str = "\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg65QPhd2WJQ9rdpvD
MlzY1QVicpiTnDPeThBjvwd2cjehRANCAAS+Yc6Fo8L5KqCbjPnvY8iRrJz2CgAZ
EVb0frnuWxt7tkXL6vnyGLaR/gW9WGBmT0r4piobJK2mUOWx9bXVMJcS
-----END PRIVATE KEY-----
";
pub const EC_B_X: &str = "vmHOhaPC-Sqgm4z572PIkayc9goAGRFW9H657lsbe7Y";
pub const EC_B_Y: &str = "Rcvq-fIYtpH-Bb1YYGZPSvimKhskraZQ5bH1tdUwlxI";
pub const RSA_PEM: &str = "\
-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEA529e3ej/e1wqgwl53606xTw9Ef+4bXovoQn+tCyiPksAc6mb
+hWDy/pytmuuo14Uv3DF+ntRh1aSwd2saNBqlRXyIYF8IgIsdw/9uBBRJXB412HL
RlIn3jet2aAt0p7bncyXhjpbaCZwWUid1/0CnwEE0I9UxZrqqIuBi3huLBaCZrkx
1L6JDrRFNcv6Dmh8CX4kvHeAxjGjnvAMPQPaxPfoZjjOq5Hg6r5WneNY/s44uj6g
nuLw8cdYOO2C+wEAMYssSNCaRlCrS8W2uMkRHt1/PYdjNaherfVBuO4X5Xpn6D+Y
AE4CD7q+f1EfN0kEINBaMBL2kZGl069Mymk5SwIDAQABAoIBAC2l72nIv7+WtcHj
2BiQxANMNuV6cWeSjptua8Eg/p1X0M5/eUbyAG12yDKH+cm6UFBUT5Bwy2ts3YSE
kzGXTjZ6vifysMfKcvfG/S3VdhPy47rjzKLhqIBxrgY7TF57O+kbhhWRJB9eWZGa
u5tzCZXQLyFt6/QP8tHstlAKoHxsUh3QthSWYlWUgLW5MJEyU87ERk9cV+Xy7+84
Lw90CUI5+Hm0JlNJtUbcqFbX1lW0fDvNzDtYpbbCG5XeZdjkIbGP59reaNlqp0X5
JiXwKn0j56NWjj5Oyywbf2/QkUCWqctrqNafqe4EpnFsfxK15bnOF7GYYQPHZRk9
PY6GQhECgYEA+bUsOeZRSAsuHFzbTf4P+f2yYH+KREJ5Tcx0rtCgUXBH1mfHDGxv
YQXJgBVC25IrhoEKAmrWPG3kwKs0FwPaGcQp1zsiSiLHHpce33XC9A9H7Tp4mP5H
BrBvL3UBh1tqTmmVo2bmCHMY+qD3fbEjsStGJiYHatmqFLW8ySG6OJECgYEA7URS
1chpxRvoBsykxsCbHBT2teq0ygAapV900GeBUWDnCHbw5tOMH9olAgil7r5ch+Vf
l7Hb07Vy6KwiVKPiohGnm/8wV/cG8lGkSyoku30xcb73giQwbXNBvF40S1wg5+Sv
wMQN+7y5IAGpj6L7PcEw2zac+e+bGt91Rq0iIhsCgYEAxUWjNe7F4hOrDw8w1lHT
z1zk0iWQV1LowFS5De6V6SC6MCF2eFMmPtEymnSxiAPXTQCepsA+lij/YlMe6NvL
LzXxFC+MbGNDSeB7rHA9X1C/MyRRaBTiid9TR3u5hHTs7Buv8xJ0wtIjNsV6IJuU
JgCY/8Rlcb2aB5h4F7IEi3ECgYB5BlHOdGTnQv3OghJGwzYbU+IoFulS5EyzMAaw
yysebHRMUAc/ZobiNG6OJAUny3f9ZZWmFfYQfkx3vF3imJngm2rIWpm5NOsZLWXF
ZWDJNenDoGo1uuns2k6cm9zG1959CpxPknGjh7dSSSbJepP3AxU9rBTUNFEEmxkC
DQwNIwKBgDsWsCIUHEOuhjUvN9axXqkkF3vFU0fLyBn9gNA00JdUQPkeswAlUaw8
d0mXhNG2BlwNwQv6yoPW9y/xg5SGFC7dXy2SvxrduLlAI5dgnpbY5Ia+10XENh8t
IeRPNsRt079p62tYaaUcS3q/450O3IBC3rxHdbHhTzJz1hfOCgz1
-----END RSA PRIVATE KEY-----
";
pub const RSA_N: &str = "529e3ej_e1wqgwl53606xTw9Ef-4bXovoQn-tCyiPksAc6mb-hWDy_pytmuuo14Uv3DF-ntRh1aSwd2saNBqlRXyIYF8IgIsdw_9uBBRJXB412HLRlIn3jet2aAt0p7bncyXhjpbaCZwWUid1_0CnwEE0I9UxZrqqIuBi3huLBaCZrkx1L6JDrRFNcv6Dmh8CX4kvHeAxjGjnvAMPQPaxPfoZjjOq5Hg6r5WneNY_s44uj6gnuLw8cdYOO2C-wEAMYssSNCaRlCrS8W2uMkRHt1_PYdjNaherfVBuO4X5Xpn6D-YAE4CD7q-f1EfN0kEINBaMBL2kZGl069Mymk5Sw";
pub const RSA_E: &str = "AQAB";
